/* placeholder: written by the module owner */
typedef int fw_placeholder_cli_serve_c;
