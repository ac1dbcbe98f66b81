/* What journal.c (writing) shares with journal-read.c (reading back at
 * start-up) only: the layout of the files in a session's tmp/, described
 * at the top of journal.c. */
#pragma once

#include <glib.h>

#define REC_MAGIC "BFREC003"
#define REC_MAGIC_V2 "BFREC002"   /* in tmp/<id>.rec, no id: still read */
#define REC_MAGIC_V1 "BFREC001"   /* before the CRC32Cs: still read */
#define SEC_MAGIC "BFSEC001"
#define OPEN_OFF 0
#define OPEN_FIXED 39          /* magic 8, id 8, chunk_size 4, mode 4,
                                  mtime 12, digest_alg 1, name_len 2 */
#define OPEN_ID 8              /* BFREC003's id; v1/v2 have none, so
                                  their fields sit 8 bytes earlier */
#define BASE_OFF 8176         /* base_size 8, CRC32C 4 */
#define CODING_OFF 8188       /* coding, k, n */
#define CLOSE_OFF 8192
#define CLOSE_LEN 66           /* set 1, total 4, size 8, alg 1, digest 32,
                                  mode 4, mtime 12, CRC32C 4 */
#define MAP_OFF 12288
#define MAP_ENTRY 8
#define SEC_HEAD 10            /* magic 8, length 2 */

#define VERDICT_SLOTS 4096     /* as many as the session keeps in memory */
#define OP_SLOTS 1024
#define SLOT_LEN 16            /* id 8, two bytes, pad 2, CRC32C 4 */
#define PROOF_SLOT_LEN 48      /* id 8, proof 32, CRC32C 4, pad 4 */
enum { OP_STARTED = 1, OP_DONE_ERRNO = 2, OP_DONE = 3 };

/* N of a record file's name "rec.N" (N decimal, no leading zero), or
 * BFD_REC_BY_ID for any other name. */
guint bfd_journal_slot_of(const char *name);
