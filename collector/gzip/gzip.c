/* placeholder: written by the module owner */
typedef int fw_placeholder_gzip_gzip_c;
