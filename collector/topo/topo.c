/* placeholder: written by the module owner */
typedef int fw_placeholder_topo_topo_c;
