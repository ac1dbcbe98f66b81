/* Admission of new connections, per source address, before they have
 * proved anything (ratelimit.c says how). Its lock is a leaf. */
#pragma once

#include <glib.h>

#include "limit.h"

struct sockaddr;
typedef struct BfdGate BfdGate;

BfdGate *bfd_gate_new(const BfdLimits *limits);
void bfd_gate_free(BfdGate *g);
/* The key a source address counts under (IPv6: its /56). */
char *bfd_gate_key(const struct sockaddr *sa);
typedef enum {
  BFD_GATE_REFUSED,          /* closed at once (logged) */
  BFD_GATE_IN,               /* a handshake slot */
  BFD_GATE_RESERVE,          /* over a cap, a reserve seat: only an ATTACH
                                to a known session, quickly */
} BfdGateSeat;

/* A connection from key was accepted: where it may wait for its
 * handshake. Each seat is given back with bfd_gate_leave when the
 * handshake ends. */
BfdGateSeat bfd_gate_enter(BfdGate *g, const char *key, const char *peer);
void bfd_gate_leave(BfdGate *g, const char *key, BfdGateSeat seat);
/* Takes a handshake's token from key's bucket: FALSE (logged) over
 * attach_rate, and the handshake is then refused with WELCOME LIMIT. */
gboolean bfd_gate_attempt(BfdGate *g, const char *key, const char *peer);
/* An ATTACH succeeded (its token is given back) or was refused (it costs
 * more). */
void bfd_gate_attach_result(BfdGate *g, const char *key, gboolean ok);
/* Logs how many refusals were not logged one by one (once a second). */
void bfd_gate_tick(BfdGate *g);
