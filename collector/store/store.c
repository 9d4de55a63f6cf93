/* placeholder: written by the module owner */
typedef int fw_placeholder_store_store_c;
