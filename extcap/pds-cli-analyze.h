/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podscope analyze: flow records (TCP, HTTP, TLS) of a capture file. */
#pragma once

int pds_cli_analyze_main(int argc, char **argv);
