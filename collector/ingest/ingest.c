/* placeholder: written by the module owner */
typedef int fw_placeholder_ingest_ingest_c;
