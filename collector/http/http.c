/* placeholder: written by the module owner */
typedef int fw_placeholder_http_http_c;
