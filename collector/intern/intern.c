/* placeholder: written by the module owner */
typedef int fw_placeholder_intern_intern_c;
