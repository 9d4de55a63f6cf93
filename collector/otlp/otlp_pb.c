/* placeholder: written by the module owner */
typedef int fw_placeholder_otlp_otlp_pb_c;
