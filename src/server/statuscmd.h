/* `braidfsd status [--json] [--watch SECS] MOUNTPOINT`: the sessions of a
 * running server, read from its view (each session's .session file): a
 * table for people, JSON for scripts. It needs no rights beyond reading
 * the view, and shows what the view shows. */
#pragma once

int bfd_status_command(int argc, char **argv);
