// The list of modules `hostplane serve` mounts. One line per module; each module's mount code
// lives in controlplane/src/mount_<module>.cc.
#include "module.h"

namespace hp::cp {

ModuleSpec ControlPlaneModuleSpec();
ModuleSpec DnsModuleSpec();   // mount_dns.cc
ModuleSpec ProvisioningModuleSpec();  // mount_provisioning.cc
ModuleSpec BillingModuleSpec();  // mount_billing.cc
ModuleSpec AcmeModuleSpec();  // mount_acme.cc
ModuleSpec PartnerModuleSpec();  // mount_partner.cc
ModuleSpec AutoSslModuleSpec();  // autossl/mount_autossl.cc
ModuleSpec WebPanelModuleSpec();  // web_panel.cc

const std::vector<ModuleSpec>& AllModules() {
  static const std::vector<ModuleSpec> kModules = {
      ControlPlaneModuleSpec(),
      DnsModuleSpec(),
      ProvisioningModuleSpec(),
      BillingModuleSpec(),
      AcmeModuleSpec(),
      PartnerModuleSpec(),
      AutoSslModuleSpec(),
      WebPanelModuleSpec(),  // last: the panel only serves files
  };
  return kModules;
}

}  // namespace hp::cp
