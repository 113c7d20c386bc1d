/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The evproc.* configuration parameters (settings.c), and the fault
 *	  points the tests use.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_SETTINGS_H
#define EVPROC_SETTINGS_H

#include "postgres.h"

extern char *evproc_listen_address;
extern int	evproc_port;
extern char *evproc_database;
extern char *evproc_directory;
extern int	evproc_rotation_interval;
extern bool evproc_fsync;
extern char *evproc_auth_token;
extern char *evproc_auth_token_file;
extern bool evproc_public_reads;
extern char *evproc_allowed_origins;
extern char *evproc_tls_cert_file;
extern char *evproc_tls_key_file;
extern int	evproc_max_header_size;
extern int	evproc_max_body_size;
extern int	evproc_max_batch_events;
extern int	evproc_dedupe_retention;
extern int	evproc_max_connections;
extern int	evproc_workers;
extern int	evproc_connection_timeout;
extern int	evproc_rotation_size;
extern int	evproc_processed_retention;
extern int	evproc_max_rejected_lines;
extern int	evproc_notify_max_users;
extern int	evproc_max_subscribers;
extern int	evproc_reserved_connections;
extern int	evproc_max_streams_per_client;
extern int	evproc_max_backlog;
extern int	evproc_min_free_space;
extern int	evproc_request_timeout;
extern int	evproc_max_body_memory;
extern int	evproc_rate_limit_per_client;
extern int	evproc_read_rate_limit_per_client;
extern char *evproc_fault_injection;
extern char *evproc_journal_storage;

/*
 * Reload groups: which module applies a setting that changed on SIGHUP
 * (the last column of settings.c's table).  The worker maps each group to
 * its module's function; settings.c only names them.  Bits: a SIGHUP
 * can change several groups.
 */
typedef enum ReloadGroup
{
	RELOAD_NONE = 0,			/* read where used, or not reloadable */
	RELOAD_INTAKE = 1 << 0,		/* intake_apply_settings */
	RELOAD_AUTH = 1 << 1,		/* auth_load */
	RELOAD_TLS = 1 << 2,		/* tls_reload */
	RELOAD_DIRECTORY = 1 << 3,	/* the journal moves (worker.c) */
} ReloadGroup;

extern void evproc_define_settings(void);
extern int	settings_changed_groups(void);
extern const char *settings_list_next(const char **cursor, size_t *len);
extern void evproc_fault(const char *point);
extern bool settings_journal_in_database(void);

#endif							/* EVPROC_SETTINGS_H */
