/* The session's ticker: every tenth of a second it samples each path's
 * rate, takes a stalled path out of service, and asks for a PING a second
 * on each path (RTT samples, and the keep-alive the server's idle timeout
 * expects; the path's sender writes it). */
#pragma once

#include "state.h"

void bfc_ticker_start(BfcSession *s) BF_EXCLUDES(&s->lock);
/* After s->stopping was set and s->tick signalled. */
void bfc_ticker_join(BfcSession *s) BF_EXCLUDES(&s->lock);
