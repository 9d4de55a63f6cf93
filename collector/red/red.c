/* placeholder: written by the module owner */
typedef int fw_placeholder_red_red_c;
