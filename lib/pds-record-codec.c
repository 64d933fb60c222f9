/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Implementation in progress. */
#include "config.h"
#include "pds-record-codec.h"
