/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope install-wireshark / uninstall-wireshark: the extcap and the
 * dissector plugin in the user's personal Wireshark folders, and (as root,
 * when asked) the file capabilities podscope-local needs, for one group.
 */
#pragma once

int pds_extcap_install_main(int argc, char **argv);
int pds_extcap_uninstall_main(int argc, char **argv);
