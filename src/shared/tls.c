/*-------------------------------------------------------------------------
 *
 * tls.c
 *	  HTTPS: when evproc.tls_cert_file and evproc.tls_key_file are both
 *	  set, the HTTP port speaks TLS only (libmicrohttpd with GnuTLS).  This
 *	  file owns the certificate chain and key in force: loading them, the
 *	  checks (the key file's ownership and permissions, as PostgreSQL checks
 *	  ssl_key_file; the key matching the certificate), their reload on
 *	  SIGHUP, and the callback that gives each TLS handshake its
 *	  certificate.
 *
 * Reload without a restart: libmicrohttpd asks cert_for_handshake (its
 * MHD_OPTION_HTTPS_CERT_CALLBACK2, a GnuTLS retrieve_function3) for the
 * certificate at every handshake, and it hands out the one in force now.
 * So a SIGHUP that finds renewed files changes what new connections get,
 * and nothing else: the daemon, its listening socket, the open connections
 * and the journal are untouched.  A connection already open keeps the
 * session it negotiated with the old certificate until it closes.
 *
 * Each handshake gets its own copy of the chain and key, which GnuTLS
 * frees with the session (GNUTLS_CERT_RETR_DEINIT_ALL).  The older
 * retrieve_function2 (MHD_OPTION_HTTPS_CERT_CALLBACK) hands out pointers
 * that GnuTLS keeps using until the handshake ends (to sign, or with RSA
 * key exchange to decrypt, a round trip later), and a reload in between
 * would free them under it.  The copy costs microseconds per handshake,
 * nothing per request.
 *
 * At start, settings that cannot be used stop the worker (ERROR; it is
 * started again after bgw_restart_time) rather than let it serve plain
 * HTTP when HTTPS was asked for.  On reload, the problem is logged and the
 * certificate in force stays, as PostgreSQL does for its ssl_* files.
 * Turning HTTPS on or off takes a restart of the worker (the daemon is
 * started with or without TLS): a reload that turns it off, or on with
 * files that can be used, has the worker restart itself (a clean shutdown,
 * back after bgw_restart_time); one that sets only one of the two, or
 * files that cannot be used, is logged and changes nothing.
 *
 * The files are read with plain libc in the worker's main thread; the
 * callback runs in that thread too (in MHD_run: libmicrohttpd has no
 * threads here) and makes no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "journal/safe_open.h"
#include "shared/settings.h"
#include "shared/tls.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

/* TLS 1.2 and 1.3 only, as PostgreSQL's ssl_min_protocol_version */
#define TLS_PRIORITIES		"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* a certificate chain or key file larger than this is refused */
#define TLS_MAX_FILE		(1024 * 1024)

/* a certificate chain and its key, as loaded from the files */
typedef struct TlsCert
{
	gnutls_datum_t *chain;		/* DER of each certificate, the server's
								 * first */
	unsigned int n;
	gnutls_x509_privkey_t key;
} TlsCert;

static bool tls_on = false;		/* the daemon speaks TLS */
static TlsCert *current = NULL; /* what new handshakes get */
static struct MHD_OptionItem options[3];

/* is_set: is a path setting non-empty? */
static bool
is_set(const char *path)
{
	return path != NULL && path[0] != '\0';
}

static void
cert_free(TlsCert *c)
{
	if (c == NULL)
		return;
	for (unsigned int i = 0; i < c->n; i++)
		gnutls_free(c->chain[i].data);
	free(c->chain);
	if (c->key != NULL)
		gnutls_x509_privkey_deinit(c->key);
	free(c);
}

/*
 * key_file_ok checks the private key file open on fd: a regular file, owned
 * by the server's user or by root, that group and others cannot read (the
 * group may read it if root owns it), as PostgreSQL checks ssl_key_file.
 * Checked on the open file, so that it is the file read.
 */
static bool
key_file_ok(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not access private key file \"%s\": %m",
						path)));
		return false;
	}
	if (!S_ISREG(st.st_mode))
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: private key file \"%s\" is not a regular file",
						path)));
		return false;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: private key file \"%s\" must be owned by the database user or root",
						path)));
		return false;
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0))
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: private key file \"%s\" has group or world access",
						path),
				 errdetail("File must have permissions u=rw (0600) or less if owned by the database user, or permissions u=rw,g=r (0640) or less if owned by root.")));
		return false;
	}
	return true;
}

/*
 * read_file reads a whole file (of what: "certificate" or "private key",
 * for the messages), checking it as a key file if secret.  Only a regular
 * file is read, and opening it never blocks (see safe_open_at): a FIFO
 * named by the setting must not stop the worker.  Returns it malloc'd, or
 * NULL with the reason logged.
 */
static char *
read_file(const char *path, const char *what, bool secret, size_t *len)
{
	mode_t		found;
	int			fd = safe_open_at(AT_FDCWD, path, O_RDONLY, 0, &found);
	struct stat st;
	char	   *buf = NULL;
	size_t		got = 0;

	if (fd == SAFE_OPEN_NOT_REGULAR)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: %s file \"%s\" is %s, not a regular file",
						what, path, safe_open_kind(found))));
		return NULL;
	}
	if (fd < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not open %s file \"%s\": %m", what, path)));
		return NULL;
	}
	if (secret && !key_file_ok(fd, path))
	{
		close(fd);
		return NULL;
	}
	if (fstat(fd, &st) != 0 || st.st_size > TLS_MAX_FILE ||
		(buf = malloc((size_t) st.st_size + 1)) == NULL)
	{
		ereport(LOG,
				(errmsg("evproc: could not read %s file \"%s\": too large or out of memory",
						what, path)));
		close(fd);
		return NULL;
	}
	while (got < (size_t) st.st_size)
	{
		ssize_t		n = read(fd, buf + got, (size_t) st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t) n;
	}
	if (got < (size_t) st.st_size)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not read %s file \"%s\": %m", what, path)));
		explicit_bzero(buf, got);
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/*
 * load_chain parses the certificate file's PEM: the server's certificate,
 * then any intermediate ones, each kept as DER in c.
 */
static bool
load_chain(TlsCert *c, const char *pem, size_t len, const char *path)
{
	gnutls_datum_t in = {(unsigned char *) pem, (unsigned int) len};
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0;
	int			ret;

	ret = gnutls_x509_crt_list_import2(&crts, &n, &in, GNUTLS_X509_FMT_PEM, 0);
	if (ret < 0 || n == 0)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: could not load certificate file \"%s\": %s",
						path, ret < 0 ? gnutls_strerror(ret) : "no certificate in it"),
				 errhint("It must hold PEM certificates (\"-----BEGIN CERTIFICATE-----\"), the server's first.")));
		return false;
	}
	c->chain = calloc(n, sizeof(gnutls_datum_t));
	for (unsigned int i = 0; i < n; i++)
	{
		if (c->chain != NULL && ret >= 0)
		{
			ret = gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER,
										  &c->chain[i]);
			if (ret >= 0)
				c->n = i + 1;
		}
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
	if (c->chain == NULL || ret < 0)
	{
		ereport(LOG,
				(errmsg("evproc: could not load certificate file \"%s\": %s",
						path, c->chain == NULL ? "out of memory" : gnutls_strerror(ret))));
		return false;
	}
	return true;
}

/*
 * load_key parses the key file's PEM (PKCS #1, PKCS #8 or SEC 1, not
 * encrypted) and checks that it is the key of the server's certificate.
 */
static bool
load_key(TlsCert *c, const char *pem, size_t len, const char *path,
		 const char *cert_path)
{
	gnutls_datum_t in = {(unsigned char *) pem, (unsigned int) len};
	gnutls_x509_crt_t crt = NULL;
	unsigned char key_id[64];
	unsigned char cert_id[64];
	size_t		key_id_len = sizeof(key_id);
	size_t		cert_id_len = sizeof(cert_id);
	bool		match;
	int			ret;

	if ((ret = gnutls_x509_privkey_init(&c->key)) < 0 ||
		(ret = gnutls_x509_privkey_import2(c->key, &in, GNUTLS_X509_FMT_PEM,
										   NULL, 0)) < 0)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: could not load private key file \"%s\": %s",
						path, gnutls_strerror(ret)),
				 errhint("It must hold an unencrypted PEM private key: evproc cannot ask for a passphrase.")));
		return false;
	}
	match = gnutls_x509_crt_init(&crt) >= 0 &&
		gnutls_x509_crt_import(crt, &c->chain[0], GNUTLS_X509_FMT_DER) >= 0 &&
		gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, cert_id,
								   &cert_id_len) >= 0 &&
		gnutls_x509_privkey_get_key_id(c->key, GNUTLS_KEYID_USE_SHA256, key_id,
									   &key_id_len) >= 0 &&
		key_id_len == cert_id_len && memcmp(key_id, cert_id, key_id_len) == 0;
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (!match)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: private key file \"%s\" is not the key of the certificate in \"%s\"",
						path, cert_path)));
		return false;
	}
	return true;
}

/*
 * load reads evproc.tls_cert_file and evproc.tls_key_file (both set).
 * Returns them, or NULL with the reason logged.
 */
static TlsCert *
load(void)
{
	const char *cert_path = evproc_tls_cert_file;
	const char *key_path = evproc_tls_key_file;
	TlsCert    *c = calloc(1, sizeof(TlsCert));
	char	   *pem;
	size_t		len = 0;
	bool		ok;

	if (c == NULL)
	{
		ereport(LOG, (errmsg("evproc: out of memory loading the HTTPS certificate")));
		return NULL;
	}
	pem = read_file(cert_path, "certificate", false, &len);
	ok = pem != NULL && load_chain(c, pem, len, cert_path);
	free(pem);
	if (ok)
	{
		pem = read_file(key_path, "private key", true, &len);
		ok = pem != NULL && load_key(c, pem, len, key_path, cert_path);
		if (pem != NULL)
			explicit_bzero(pem, len);
		free(pem);
	}
	if (!ok)
	{
		cert_free(c);
		return NULL;
	}
	return c;
}

/*
 * log_loaded logs which certificate new connections get: its subject,
 * serial and expiry, and whether it has expired.
 */
static void
log_loaded(const TlsCert *c, const char *verb)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = {NULL, 0};
	unsigned char serial[64];
	size_t		serial_len = sizeof(serial);
	char		hex[2 * sizeof(serial) + 1] = "";
	char		expiry[64] = "?";
	time_t		expires = (time_t) -1;

	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &c->chain[0], GNUTLS_X509_FMT_DER) >= 0)
	{
		(void) gnutls_x509_crt_get_dn2(crt, &dn);
		if (gnutls_x509_crt_get_serial(crt, serial, &serial_len) >= 0)
			for (size_t i = 0; i < serial_len; i++)
				snprintf(hex + 2 * i, 3, "%02x", serial[i]);
		expires = gnutls_x509_crt_get_expiration_time(crt);
		if (expires != (time_t) -1)
		{
			struct tm tm;

			strftime(expiry, sizeof(expiry), "%Y-%m-%d %H:%M:%S UTC",
					 gmtime_r(&expires, &tm));
		}
	}
	ereport(LOG,
			(errmsg("evproc: HTTPS certificate %s: \"%s\", serial %s, expires %s, from \"%s\"",
					verb, dn.data != NULL ? (char *) dn.data : "?", hex, expiry,
					evproc_tls_cert_file),
			 (expires != (time_t) -1 && expires < time(NULL)) ?
			 errdetail("The certificate has expired: clients will refuse it.") : 0));
	if (dn.data != NULL)
		gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
}

/*
 * cert_for_handshake gives a TLS handshake the certificate in force (a
 * gnutls_certificate_retrieve_function3, called by GnuTLS in MHD_run): a
 * copy of the chain and key, which GnuTLS frees with the session.  No
 * PostgreSQL calls.
 */
static int
cert_for_handshake(gnutls_session_t session,
				   const struct gnutls_cert_retr_st *info,
				   gnutls_pcert_st **certs, unsigned int *ncerts,
				   gnutls_ocsp_data_st **ocsp, unsigned int *nocsp,
				   gnutls_privkey_t *privkey, unsigned int *flags)
{
	const TlsCert *c = current;
	gnutls_pcert_st *pcerts;
	gnutls_privkey_t key = NULL;
	unsigned int done = 0;

	*certs = NULL;
	*ncerts = 0;
	*ocsp = NULL;
	*nocsp = 0;
	*privkey = NULL;
	*flags = 0;
	if (c == NULL || (pcerts = gnutls_calloc(c->n, sizeof(gnutls_pcert_st))) == NULL)
		return -1;
	for (; done < c->n; done++)
		if (gnutls_pcert_import_x509_raw(&pcerts[done], &c->chain[done],
										 GNUTLS_X509_FMT_DER, 0) < 0)
			goto fail;
	if (gnutls_privkey_init(&key) < 0)
	{
		key = NULL;
		goto fail;
	}
	if (gnutls_privkey_import_x509(key, c->key, GNUTLS_PRIVKEY_IMPORT_COPY) < 0)
		goto fail;
	*certs = pcerts;
	*ncerts = c->n;
	*privkey = key;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	return 0;

fail:
	if (key != NULL)
		gnutls_privkey_deinit(key);
	for (unsigned int i = 0; i < done; i++)
		gnutls_pcert_deinit(&pcerts[i]);
	gnutls_free(pcerts);
	return -1;
}

/*
 * tls_start decides, at the worker's start, whether the HTTP server speaks
 * TLS: true if evproc.tls_cert_file and evproc.tls_key_file are set (their
 * certificate is then loaded), false if neither is.  Anything else is an
 * ERROR: the worker does not serve plain HTTP in place of HTTPS.
 */
bool
tls_start(void)
{
	bool		cert = is_set(evproc_tls_cert_file);
	bool		key = is_set(evproc_tls_key_file);

	tls_on = false;
	if (!cert && !key)
		return false;
	if (!cert || !key)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: %s is set but %s is not",
						cert ? "evproc.tls_cert_file" : "evproc.tls_key_file",
						cert ? "evproc.tls_key_file" : "evproc.tls_cert_file"),
				 errhint("HTTPS needs both the certificate and its key; set neither for plain HTTP.")));
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
		MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK2) != MHD_YES)
		ereport(ERROR,
				(errmsg("evproc: this libmicrohttpd cannot serve HTTPS"),
				 errhint("It must be built with GnuTLS 3.6.3 or later, as Debian's is.")));
	if ((current = load()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: could not load the HTTPS certificate and key; the HTTP server does not start"),
				 errhint("See the message above; the worker tries again every few seconds.")));
	log_loaded(current, "loaded");
	tls_on = true;
	return true;
}

/*
 * tls_mhd_options: the options libmicrohttpd's daemon needs for TLS (for
 * MHD_OPTION_ARRAY), none if it does not speak TLS.
 */
const struct MHD_OptionItem *
tls_mhd_options(void)
{
	int			i = 0;

	if (tls_on)
	{
		options[i++] = (struct MHD_OptionItem)
		{
			MHD_OPTION_HTTPS_CERT_CALLBACK2, 0, (void *) cert_for_handshake
		};
		options[i++] = (struct MHD_OptionItem)
		{
			MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) TLS_PRIORITIES
		};
	}
	options[i] = (struct MHD_OptionItem)
	{
		MHD_OPTION_END, 0, NULL
	};
	return options;
}

/*
 * tls_reload applies a SIGHUP: the certificate and key are read again, and
 * new handshakes get them from now on; connections already open keep their
 * session.  If they cannot be used, the ones in force stay.  Returns true
 * if the reload turns HTTPS on or off: the worker must then restart, since
 * the daemon is started with or without TLS.  HTTPS is turned on only with
 * both settings set and files that can be used, so that a mistake never
 * takes the server down; it is turned off when neither is set.
 */
bool
tls_reload(void)
{
	bool		cert = is_set(evproc_tls_cert_file);
	bool		key = is_set(evproc_tls_key_file);
	TlsCert    *fresh;
	bool		changed;

	if (!tls_on)
	{
		if (!cert && !key)
			return false;
		if (!cert || !key)
		{
			ereport(LOG,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("evproc: %s is set but %s is not; the HTTP server still speaks plain HTTP",
							cert ? "evproc.tls_cert_file" : "evproc.tls_key_file",
							cert ? "evproc.tls_key_file" : "evproc.tls_cert_file"),
					 errhint("HTTPS needs both the certificate and its key.")));
			return false;
		}
		if ((fresh = load()) == NULL)
		{
			ereport(LOG,
					(errmsg("evproc: HTTPS was not turned on; the HTTP server still speaks plain HTTP"),
					 errhint("See the message above, and reload once the files are fixed.")));
			return false;
		}
		cert_free(fresh);
		ereport(LOG,
				(errmsg("evproc: HTTPS is turned on: the worker restarts to apply it")));
		return true;
	}
	if (!cert && !key)
	{
		ereport(LOG,
				(errmsg("evproc: HTTPS is turned off: the worker restarts to apply it")));
		return true;
	}
	if (!cert || !key)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("evproc: %s is set but %s is not; the HTTPS certificate was not reloaded",
						cert ? "evproc.tls_cert_file" : "evproc.tls_key_file",
						cert ? "evproc.tls_key_file" : "evproc.tls_cert_file")));
		return false;
	}
	if ((fresh = load()) == NULL)
	{
		ereport(LOG,
				(errmsg("evproc: the HTTPS certificate was not reloaded; new connections still get the one loaded before")));
		return false;
	}
	changed = fresh->n != current->n;
	for (unsigned int i = 0; i < fresh->n && !changed; i++)
		changed = fresh->chain[i].size != current->chain[i].size ||
			memcmp(fresh->chain[i].data, current->chain[i].data,
				   fresh->chain[i].size) != 0;
	/* sessions hold copies (see cert_for_handshake): free the old one now */
	cert_free(current);
	current = fresh;
	if (changed)
		log_loaded(current, "reloaded");
	return false;
}

void
tls_stop(void)
{
	cert_free(current);
	current = NULL;
	tls_on = false;
}
