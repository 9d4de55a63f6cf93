/* placeholder: written by the module owner */
typedef int fw_placeholder_net_server_c;
