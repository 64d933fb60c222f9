/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podscope demo: two namespaces, real HTTP, a tap, and what tshark sees of it. */
#pragma once

int pds_cli_demo_main(int argc, char **argv);
