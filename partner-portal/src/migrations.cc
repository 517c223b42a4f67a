#include "hp/partner/migrations.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& partner_migrations();
}

namespace hp::partner {

const core::MigrationSet& PartnerMigrations() { return hp::generated::partner_migrations(); }

}  // namespace hp::partner
