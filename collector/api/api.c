/* placeholder: written by the module owner */
typedef int fw_placeholder_api_api_c;
