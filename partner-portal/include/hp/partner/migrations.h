#pragma once
// The schema of the partner module (partner-portal/src/sql/NNNN_name.sql), for Database::Migrate().
// Needs CoreMigrations() too (sealed secrets use the data_keys table, deliveries use jobs).

#include "hp/core/store.h"

namespace hp::partner {

const core::MigrationSet& PartnerMigrations();

}  // namespace hp::partner
