/* Admission of new connections, per source address, before they have
 * proved anything (ratelimit.c says how). Its lock is a leaf. */
#pragma once

#include <glib.h>

#include "limit.h"

struct sockaddr;
typedef struct BfdGate BfdGate;

BfdGate *bfd_gate_new(const BfdLimits *limits);
void bfd_gate_free(BfdGate *g);
/* The key a source address counts under (IPv6: its /64). */
char *bfd_gate_key(const struct sockaddr *sa);
/* A connection from key was accepted: FALSE (logged) if it must be closed
 * at once. Each TRUE is paired with bfd_gate_leave, when its handshake
 * ends. */
gboolean bfd_gate_enter(BfdGate *g, const char *key, const char *peer);
void bfd_gate_leave(BfdGate *g, const char *key);
/* Takes a handshake's token from key's bucket: FALSE (logged) over
 * attach_rate, and the handshake is then refused with WELCOME LIMIT. */
gboolean bfd_gate_attempt(BfdGate *g, const char *key, const char *peer);
/* An ATTACH succeeded (its token is given back) or was refused (it costs
 * more). */
void bfd_gate_attach_result(BfdGate *g, const char *key, gboolean ok);
/* Logs how many refusals were not logged one by one (once a second). */
void bfd_gate_tick(BfdGate *g);
