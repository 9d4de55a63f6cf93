/* placeholder: written by the module owner */
typedef int fw_placeholder_net_conn_c;
