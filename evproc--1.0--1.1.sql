/* evproc--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.1'" to load this file. \quit

-- A file's identity is its name and its fingerprint: size and SHA-256.
-- Files ingested by 1.0 keep NULL here and are recognised by name alone.
ALTER TABLE evproc.processed_files
    ADD COLUMN size bigint,
    ADD COLUMN sha256 bytea;
COMMENT ON TABLE evproc.processed_files IS
    'One row per ingested file, written in the same transaction as its events: a file whose name, size and SHA-256 are here is never counted again';
COMMENT ON COLUMN evproc.processed_files.size IS 'Size of the file in bytes; NULL for files ingested by version 1.0';
COMMENT ON COLUMN evproc.processed_files.sha256 IS 'SHA-256 of the file; NULL for files ingested by version 1.0';
