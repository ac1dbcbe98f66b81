/* braidfsd's error domain: a failure that may become an answer carries
 * its protocol status (braidfs-protocol(7), STATUS CODES) as its code.
 * The conventions it serves are in braidfsd.h (CONVENTIONS). */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Codes are BfStatus values (wire.h). */
#define BFD_ERROR (bfd_error_quark())
GQuark bfd_error_quark(void);

/* The status that reports a failed system call: the one mapping from
 * errno to the protocol. */
uint8_t bfd_status_from_errno(int err);

/* Sets *error (may be NULL) in BFD_ERROR with err's status, and the
 * message "FORMAT: strerror(err)". Returns FALSE, for tail calls. */
gboolean bfd_set_error_errno(GError **error, int err, const char *format, ...)
  G_GNUC_PRINTF(3, 4);

/* The status an answer gives for error: its code in BFD_ERROR; for a
 * frame that could not be read, what its codec (BF_WIRE_ERROR) or its
 * seal (BF_SEAL_ERROR: CORRUPT) said; IO for anything else. */
uint8_t bfd_error_status(const GError *error);
