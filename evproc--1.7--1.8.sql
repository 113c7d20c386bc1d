/* evproc--1.7--1.8.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.8'" to load this file. \quit

-- a file's fingerprint that costs little per byte (1.8)
--
-- SHA-256 of each file took 28% of ingest's time on a 1.2 GB file.  From
-- 1.8 on a file is recorded with MurmurHash3 x64-128 of its bytes instead:
-- not cryptographic, and it need not be: it tells the file recorded under a
-- name from another found under that name, and whoever could forge a
-- collision can write the journal directory anyway.  The rows recorded
-- before keep their SHA-256.
ALTER TABLE evproc.processed_files
    ADD COLUMN murmur3_128 bytea
    CONSTRAINT processed_files_murmur3_128_length
        CHECK (octet_length(murmur3_128) = 16);
COMMENT ON COLUMN evproc.processed_files.murmur3_128 IS
    'MurmurHash3 x64-128 of the file (seed 0, as evproc.murmur3_128 gives it); NULL for files ingested before version 1.8, which have sha256';
COMMENT ON COLUMN evproc.processed_files.sha256 IS
    'SHA-256 of the file, for files ingested by versions 1.1 to 1.7; NULL for those of 1.0, and from 1.8 on';

CREATE FUNCTION evproc.murmur3_128(bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'evproc_murmur3_128'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION evproc.murmur3_128(bytea) IS
    'MurmurHash3 x64-128 (seed 0) of the bytes, as evproc.processed_files.murmur3_128 records a file''s';
