/* placeholder: written by the module owner */
typedef int fw_placeholder_config_config_c;
