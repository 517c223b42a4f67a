#pragma once
// The schema of the acme module (acme/src/sql/NNNN_name.sql), for Database::Migrate().

#include "hp/core/store.h"

namespace hp::acme {

const core::MigrationSet& AcmeMigrations();

}  // namespace hp::acme
