/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podscope tap: local network namespaces -> pcapng file or stdout. */
#pragma once

int pds_cli_tap_main(int argc, char **argv);
