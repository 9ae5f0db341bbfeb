/* exectrail case report */
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("exectrail-case").textContent);
  const p = document.createElement("p");
  p.textContent = "events: " + data.summary.included;
  document.getElementById("app").appendChild(p);
})();
