/* placeholder: written by the module owner */
typedef int fw_placeholder_h2_h2_c;
