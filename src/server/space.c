/* STATFS frames (space.h). The answer is statvfs of the session's data/,
 * nothing is remembered: a repeat is simply answered again. */
#include "space.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "session.h"

/* statvfs's counts in units of f_frsize, checked as the codec checks
 * them (a file system reporting bavail > bfree would otherwise make the
 * client refuse the answer). */
static void
fill(BfStatfsAck *a, const struct statvfs *st)
{
  a->bsize = (uint32_t)MIN((unsigned long)BF_STATFS_BSIZE_MAX,
                           st->f_frsize ? st->f_frsize : st->f_bsize);
  a->blocks = st->f_blocks;
  a->bfree = MIN((uint64_t)st->f_bfree, a->blocks);
  a->bavail = MIN((uint64_t)st->f_bavail, a->bfree);
  a->files = st->f_files;
  a->ffree = MIN((uint64_t)st->f_ffree, a->files);
}

gboolean
bfd_space_on_statfs(BfdPath *p, const BfStatfs *m)
{
  BfMsg ack = { .type = BF_FRAME_STATFS_ACK };
  struct statvfs st;

  ack.u.statfs_ack.op_id = m->op_id;
  if (fstatvfs(p->sess->dir.data_fd, &st) < 0 ||
      (st.f_frsize == 0 && st.f_bsize == 0 && (errno = EINVAL))) {
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "session %s: cannot tell "
           "the store's free space: %s", p->session_name, g_strerror(errno));
    ack.u.statfs_ack.status = BF_ST_IO;
  } else {
    fill(&ack.u.statfs_ack, &st);
  }
  return bfd_path_post(p, &ack);
}
