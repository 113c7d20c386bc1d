/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *	  A file's SHA-256, computed by reading it again: the fingerprint that
 *	  schemas 1.1 to 1.7 record.
 *
 * From schema 1.8 on, ingest fingerprints a file with MurmurHash3 as it
 * reads it (core/hash128.c).  The SHA-256 is needed only to compare with
 * a name that 1.1 to 1.7 recorded with one (the file found again after an
 * update), and to record into a schema not yet updated to 1.8; that costs
 * what it did before 1.8, a second read of the file, in one go.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/fingerprint.h"

#include "common/sha2.h"

/* sha256_block feeds the SHA-256 with a block read from the file again. */
static void
sha256_block(void *arg, const char *data, size_t len)
{
	pg_cryptohash_ctx *ctx = arg;

	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute a SHA-256: %s",
			 pg_cryptohash_error(ctx));
}

/*
 * fingerprint_sha256_start starts a SHA-256 computation, in the current
 * resource owner (the caller's, which frees it if an error is raised).
 */
pg_cryptohash_ctx *
fingerprint_sha256_start(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not start a SHA-256 computation")));
	return ctx;
}

/*
 * fingerprint_sha256_read reads reader again from its start to its end
 * (path names it in errors) for the SHA-256 of its bytes, into fp.  The
 * reader is left at the end, as after the first pass.
 */
void
fingerprint_sha256_read(JournalReader *reader, const char *path,
						pg_cryptohash_ctx *ctx, Fingerprint *fp)
{
	const char *line;
	size_t		len;
	JournalLine r;

	if (jreader_rewind(reader) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\" again: %m", path)));
	reader->on_read = sha256_block;
	reader->on_read_arg = ctx;
	while ((r = jreader_next(reader, &line, &len)) != JL_EOF)
		if (r == JL_ERROR)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
	reader->on_read = NULL;
	reader->on_read_arg = NULL;
	if (pg_cryptohash_final(ctx, fp->sha256, sizeof(fp->sha256)) < 0)
		elog(ERROR, "could not compute the SHA-256 of \"%s\": %s",
			 path, pg_cryptohash_error(ctx));
	fp->has_sha256 = true;
}
