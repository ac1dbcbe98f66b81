/* `braidfs status [--json] [--watch SECS] [MOUNT...]`: what mounted
 * outboxes are doing, read from their .braidfs/status.json (progress.h):
 * a table for people, the JSON for scripts, redrawn with --watch. */
#pragma once

int bfc_status_command(int argc, char **argv);
