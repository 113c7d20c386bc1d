/* evproc--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.1'" to load this file. \quit

-- A file's identity is its name and its fingerprint: size and SHA-256.
-- Files ingested by 1.0 keep NULL here and are recognised by name alone.
ALTER TABLE evproc.processed_files
    ADD COLUMN size bigint,
    ADD COLUMN sha256 bytea;
