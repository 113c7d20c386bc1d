/*-------------------------------------------------------------------------
 *
 * stream_index.h
 *	  The users live-update subscribers watch, what each watcher has of
 *	  each user's state (by sequence number), which states are wanted and
 *	  for whom, and what a client's resume point means.  Backend-free
 *	  (plain C, malloc), so that it is unit-tested.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_STREAM_INDEX_H
#define EVPROC_STREAM_INDEX_H

#include <stdbool.h>
#include <stdint.h>

/* One subscriber watching one user by name. */
typedef struct IndexWatch
{
	void	   *sub;			/* the subscriber (opaque here) */
	uint64_t	have;			/* the seq of the user's state it has; 0: none */
	uint64_t	first;			/* its first state is wanted, for it alone,
								 * labelled at least this; 0: not wanted */
} IndexWatch;

/* A user some subscriber watches, or whose state is wanted. */
typedef struct UserEntry
{
	char	   *user_id;
	uint32_t	hash;
	IndexWatch *watches;
	int			nwatches;
	int			cap;
	int			nfirst;			/* watches whose first state is wanted */
	uint64_t	changed_seq;	/* the feed says it changed at this seq, for
								 * every watcher; 0: no */
	bool		wanted;			/* in the wanted queue */
	struct UserEntry *next;		/* in its bucket */
	struct UserEntry *wprev;	/* in the wanted queue, oldest first */
	struct UserEntry *wnext;
} UserEntry;

extern UserEntry *index_find(const char *user_id, bool create);
extern UserEntry *index_watch(const char *user_id, void *sub);
extern void index_unwatch(UserEntry *e, void *sub);
extern void index_changed(UserEntry *e, uint64_t seq);
extern void index_changed_all(uint64_t seq);
extern void index_first(UserEntry *e, void *sub, uint64_t have, uint64_t seq);
extern int	index_nwanted(void);
extern UserEntry *index_wanted_head(void);
extern uint64_t index_label(UserEntry *e, IndexWatch *w);
extern void index_answered(UserEntry *e);

/* What a client's resume point (Last-Event-ID, ?since=) means here. */
typedef enum ResumeKind
{
	RESUME_NONE,				/* 0: the client has nothing */
	RESUME_FROM,				/* a point this worker has read up to */
	RESUME_UNKNOWN,				/* ahead of the server: never given out */
	RESUME_WAIT					/* not yet read here: decide in a later pass */
} ResumeKind;

extern ResumeKind resume_kind(uint64_t since, uint64_t read_seq,
							  uint64_t last_seq);

#endif							/* EVPROC_STREAM_INDEX_H */
