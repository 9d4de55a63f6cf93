/* placeholder: written by the module owner */
typedef int fw_placeholder_base_log_c;
