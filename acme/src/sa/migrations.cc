#include "hp/acme/migrations.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& acme_migrations();
}  // namespace hp::generated

namespace hp::acme {

const core::MigrationSet& AcmeMigrations() { return generated::acme_migrations(); }

}  // namespace hp::acme
