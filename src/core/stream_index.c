/*-------------------------------------------------------------------------
 *
 * stream_index.c
 *	  The users live-update subscribers watch (stream.c), what each
 *	  watcher has, which states are wanted and for whom, and what a
 *	  client's resume point means.  Backend-free: plain C and malloc, as
 *	  it runs inside libmicrohttpd's callbacks too.
 *
 * A user's state is wanted for two reasons, kept apart: the change feed
 * says it changed (changed_seq: every watcher, and every subscriber of
 * all users, gets the new state), or a new subscriber needs its first
 * state (a watch's first: that subscriber alone gets it).  So one
 * client's opening never sends anything to the others.  Each watch keeps
 * the seq of the state its subscriber has (have): a state is sent to a
 * watcher only with a larger seq, so nothing is sent twice, also when a
 * file's users share one seq.
 *
 * Wanted users wait in a queue in seq order, so that each subscriber is
 * sent its states in seq order, also when more are wanted than one pass
 * looks up: a client that resumes from the seq of the last message it got
 * has every change before it (and of it, but for a client of several
 * users: see stream_welcome).
 *
 *-------------------------------------------------------------------------
 */
#include "core/stream_index.h"

#include <stdlib.h>
#include <string.h>

/* buckets of the user index (a power of two) */
#define INDEX_BUCKETS		4096

static UserEntry *buckets[INDEX_BUCKETS];
static UserEntry *wanted_head = NULL;
static UserEntry *wanted_tail = NULL;
static int	nwanted = 0;

/* hash_user: FNV-1a of a user id */
static uint32_t
hash_user(const char *user_id)
{
	uint32_t	h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *) user_id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* index_find finds user_id's entry, creating it if create; NULL if none */
UserEntry *
index_find(const char *user_id, bool create)
{
	uint32_t	h = hash_user(user_id);
	UserEntry **p = &buckets[h % INDEX_BUCKETS];
	UserEntry  *e;

	for (e = *p; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->user_id, user_id) == 0)
			return e;
	if (!create)
		return NULL;
	e = calloc(1, sizeof(UserEntry));
	if (e == NULL || (e->user_id = strdup(user_id)) == NULL)
	{
		free(e);
		return NULL;
	}
	e->hash = h;
	e->next = *p;
	*p = e;
	return e;
}

/* drop frees an entry that nobody watches and nobody wants */
static void
drop(UserEntry *e)
{
	UserEntry **p = &buckets[e->hash % INDEX_BUCKETS];

	if (e->nwatches > 0 || e->wanted)
		return;
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	free(e->watches);
	free(e->user_id);
	free(e);
}

/* find_watch: sub's watch of e (a new one is most likely the last) */
static IndexWatch *
find_watch(UserEntry *e, void *sub)
{
	for (int i = e->nwatches - 1; i >= 0; i--)
		if (e->watches[i].sub == sub)
			return &e->watches[i];
	return NULL;
}

/*
 * index_watch makes sub a watcher of user_id (once, if named twice),
 * having nothing yet; returns the user's entry, or NULL (out of memory).
 */
UserEntry *
index_watch(const char *user_id, void *sub)
{
	UserEntry  *e = index_find(user_id, true);

	if (e == NULL || find_watch(e, sub) != NULL)
		return e;
	if (e->nwatches == e->cap)
	{
		int			cap = e->cap == 0 ? 4 : e->cap * 2;
		IndexWatch *w = realloc(e->watches, sizeof(IndexWatch) * cap);

		if (w == NULL)
		{
			drop(e);
			return NULL;
		}
		e->watches = w;
		e->cap = cap;
	}
	e->watches[e->nwatches].sub = sub;
	e->watches[e->nwatches].have = 0;
	e->watches[e->nwatches].first = 0;
	e->nwatches++;
	return e;
}

/* index_unwatch: sub no longer watches e (which is freed if unused) */
void
index_unwatch(UserEntry *e, void *sub)
{
	IndexWatch *w = find_watch(e, sub);

	if (w != NULL)
	{
		if (w->first != 0)
			e->nfirst--;
		*w = e->watches[--e->nwatches];
	}
	drop(e);
}

/* unqueue takes e out of the wanted queue */
static void
unqueue(UserEntry *e)
{
	if (e->wprev != NULL)
		e->wprev->wnext = e->wnext;
	else
		wanted_head = e->wnext;
	if (e->wnext != NULL)
		e->wnext->wprev = e->wprev;
	else
		wanted_tail = e->wprev;
	e->wanted = false;
	nwanted--;
}

/* want puts e in the wanted queue, if it is not there */
static void
want(UserEntry *e)
{
	if (e->wanted)
		return;
	e->wanted = true;
	e->wprev = wanted_tail;
	e->wnext = NULL;
	if (wanted_tail != NULL)
		wanted_tail->wnext = e;
	else
		wanted_head = e;
	wanted_tail = e;
	nwanted++;
}

/*
 * index_changed: the feed says e changed at seq; every watcher wants it.
 * The queue stays in seq order (the feed's are read in order, and first
 * states are labelled with the newest read): e goes to its end.
 */
void
index_changed(UserEntry *e, uint64_t seq)
{
	if (seq <= e->changed_seq)
		return;
	e->changed_seq = seq;
	if (e->wanted)
		unqueue(e);
	want(e);
}

/* index_changed_all: every watched user may have changed, up to seq */
void
index_changed_all(uint64_t seq)
{
	for (int b = 0; b < INDEX_BUCKETS; b++)
		for (UserEntry *e = buckets[b]; e != NULL; e = e->next)
			if (e->nwatches > 0)
				index_changed(e, seq);
}

/*
 * index_first: sub, a watcher of e, has its state as of have; seq not 0:
 * it wants e's current state, labelled seq (or a later change's), for
 * itself alone.
 */
void
index_first(UserEntry *e, void *sub, uint64_t have, uint64_t seq)
{
	IndexWatch *w = find_watch(e, sub);

	if (w == NULL)
		return;
	w->have = have;
	if (seq == 0 || seq <= have)
		return;
	if (w->first == 0)
		e->nfirst++;
	w->first = seq;
	want(e);
}

int
index_nwanted(void)
{
	return nwanted;
}

/* index_wanted_head: the oldest wanted entry (the next: e->wnext) */
UserEntry *
index_wanted_head(void)
{
	return wanted_head;
}

/*
 * index_label: e's state was looked up; what seq is it sent to watch w
 * with?  0: it is not sent (w has it, or nothing is wanted for w).  Notes
 * that w has it.
 */
uint64_t
index_label(UserEntry *e, IndexWatch *w)
{
	uint64_t	label = w->first > e->changed_seq ? w->first : e->changed_seq;

	if (w->first != 0)
	{
		w->first = 0;
		e->nfirst--;
	}
	if (label == 0 || label <= w->have)
		return 0;
	w->have = label;
	return label;
}

/*
 * index_answered: e's state was looked up and sent to whom it was for (or
 * the user is unknown: nothing to send): no longer wanted.  e may be
 * freed.
 */
void
index_answered(UserEntry *e)
{
	for (int i = 0; i < e->nwatches; i++)
		e->watches[i].first = 0;
	e->nfirst = 0;
	e->changed_seq = 0;
	if (e->wanted)
		unqueue(e);
	drop(e);
}

/*
 * resume_kind says what a client's resume point since means, given the
 * newest seq this worker has read from the feed (read_seq) and the newest
 * the feed has published (last_seq, read after read_seq).  A point the
 * server never reached is unknown: the client gets the current state, and
 * its number moves nothing.  A point published but not yet read here
 * waits for this worker to catch up (an instant: it is woken when
 * something is published), so that what follows is labelled above it.
 * Before the first read, every point waits.
 */
ResumeKind
resume_kind(uint64_t since, uint64_t read_seq, uint64_t last_seq)
{
	if (since > last_seq && since > read_seq)
		return read_seq == 0 ? RESUME_WAIT : RESUME_UNKNOWN;
	if (read_seq == 0 || since > read_seq)
		return RESUME_WAIT;
	return since == 0 ? RESUME_NONE : RESUME_FROM;
}
