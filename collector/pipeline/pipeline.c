/* placeholder: written by the module owner */
typedef int fw_placeholder_pipeline_pipeline_c;
