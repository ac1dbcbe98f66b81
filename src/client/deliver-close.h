/* delivery=close: a version is an item of the session, written as the
 * file is, and close(2) returns once the server stored it durably (or
 * says why not), so cp sees a failure as a failed close. */
#pragma once

#include "delivery.h"
#include "session.h"

BfcDelivery *bfc_deliver_close_new(BfcSession *s);
