/* placeholder: written by the module owner */
typedef int fw_placeholder_tls_tls_c;
