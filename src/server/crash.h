/* Test-only fault injection (BRAIDFSD_CRASH_AFTER, braidfsd(8)): the
 * points of a transfer where a test may have braidfsd killed. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef enum {
  BFD_CRASH_FRAMES,        /* a frame read after the handshake, not acted on */
  BFD_CRASH_MAX_ID,        /* item id recorded, nothing of the item yet */
  BFD_CRASH_PART_CREATED,  /* tmp/<id>.part made, no record */
  BFD_CRASH_REC_TORN,      /* half of the ITEM_OPEN record written */
  BFD_CRASH_CHUNK_DATA,    /* chunk written, not yet in the chunk map */
  BFD_CRASH_CHUNK_MAP,     /* chunk in the map, not yet acknowledged */
  BFD_CRASH_CLOSE_TORN,    /* half of the ITEM_CLOSE record written */
  BFD_CRASH_FSYNCED,       /* complete item fsynced, not renamed */
  BFD_CRASH_BATCH_SYNCED,  /* every item of a commit batch fsynced, none
                              renamed */
  BFD_CRASH_RENAMED,       /* renamed into data/, directory not fsynced */
  BFD_CRASH_BATCH_RENAMED, /* every item of a batch renamed, no directory
                              fsynced */
  BFD_CRASH_DIR_SYNCED,    /* directory fsynced, verdict not yet recorded */
  BFD_CRASH_REC_REMOVED,   /* verdict recorded, record emptied, STORED
                              not sent */
  BFD_CRASH_STORED_SENT,   /* STORED sent */
  BFD_CRASH_OP_APPLIED,    /* an OP done, its OP_ACK not sent */
  BFD_CRASH_BASE_COPY,     /* a step of an append's base copied, no record */
  BFD_CRASH_N
} BfdCrashPoint;

/* Reads BRAIDFSD_CRASH_AFTER; FALSE (error set) if it is malformed. */
gboolean bfd_crash_setup(GError **error);
void bfd_crash_at(BfdCrashPoint pt);
/* BRAIDFSD_HOLD_BASE_COPY=FIFO: each base copy waits, before its
 * first byte, until a writer opens FIFO and closes it (after the line
 * "test hook: holding the base copy" on standard error), so that a test
 * sees what goes on meanwhile. Unset, it costs one comparison. */
void bfd_hold_base_copy(void);
/* BRAIDFSD_HOLD_OP=FIFO: the first directory operation run waits, before
 * it is done, as a base copy does (after the line "test hook: holding
 * the operation on 'NAME' (N items open)", N the session's items in
 * flight then): the frames behind it on its path wait with it. */
gboolean bfd_hold_op_armed(void);
void bfd_hold_op(const char *name, guint items_open);
/* Writes half of buf and crashes, when pt is due. */
void bfd_crash_torn(BfdCrashPoint pt, int fd, const void *buf, size_t len,
                    off_t off);
