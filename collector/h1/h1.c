/* placeholder: written by the module owner */
typedef int fw_placeholder_h1_h1_c;
