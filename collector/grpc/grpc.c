/* placeholder: written by the module owner */
typedef int fw_placeholder_grpc_grpc_c;
