/*
 * Stand-ins for the GSSAPI and LDAP functions Debian's static libpq refers to. Debian ships no static Kerberos
 * library, and the core is linked fully statically so that it runs on any x86_64 Linux. Every stub fails, so libpq
 * behaves as if it had been built without GSSAPI and LDAP: gssencmode=prefer (the default) falls back to plain or
 * TLS connections; Kerberos authentication and LDAP lookups in pg_service.conf are unsupported. Password, SCRAM,
 * trust and TLS connections are unaffected.
 */
#include <stddef.h>

typedef unsigned int OM_uint32;
#define STUB_GSS_FAILURE ((OM_uint32)(13ul << 16))

void *GSS_C_NT_HOSTBASED_SERVICE = NULL;

OM_uint32 gss_acquire_cred(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_delete_sec_context(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_display_status(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_import_name(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_init_sec_context(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_release_buffer(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_release_cred(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_release_name(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_unwrap(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_wrap(void) { return STUB_GSS_FAILURE; }
OM_uint32 gss_wrap_size_limit(void) { return STUB_GSS_FAILURE; }

void *ldap_init(void) { return NULL; }
int ldap_count_entries(void) { return -1; }
int ldap_msgfree(void) { return -1; }
int ldap_result(void) { return -1; }
int ldap_search_st(void) { return -1; }
int ldap_set_option(void) { return -1; }
int ldap_simple_bind(void) { return -1; }
int ldap_unbind(void) { return -1; }
void ldap_value_free_len(void) {}
void *ldap_first_entry(void) { return NULL; }
void *ldap_get_values_len(void) { return NULL; }
char *ldap_err2string(void) { return "LDAP is not supported by this build"; }
