/* placeholder: written by the module owner */
typedef int fw_placeholder_stats_stats_c;
