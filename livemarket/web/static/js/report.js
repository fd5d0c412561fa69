/* The season report's charts: one per view, from the report the page was rendered with
 * (the tables beside them hold the same figures as text). */
(function () {
  "use strict";

  var LM = window.LM;
  var report = LM.bootstrap().report || {};
  var CATEGORY_NAMES = {
    food: LM.t("figures.category_food"),
    beauty: LM.t("figures.category_beauty"),
    living: LM.t("figures.category_living"),
    fashion: LM.t("figures.category_fashion"),
  };
  var LABEL_OF = {
    day: function (row) {
      return LM.formatDate(row.key + "T12:00:00Z");
    },
    platform: function (row) {
      return row.key;
    },
    category: function (row) {
      return CATEGORY_NAMES[row.category] || row.category;
    },
    special: function (row) {
      return row.title;
    },
    product: function (row) {
      return row.name;
    },
  };

  Object.keys(LABEL_OF).forEach(function (view) {
    var canvas = document.querySelector('[data-lm-report-chart="' + view + '"]');
    var rows = report[view] || [];
    if (!canvas || !window.Chart) return;
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map(LABEL_OF[view]),
        datasets: [
          {
            label: LM.t("figures.revenue"),
            data: rows.map(function (row) {
              return row.revenue;
            }),
          },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false },
    });
  });

  var print = document.querySelector("[data-lm-print]");
  if (print) {
    print.addEventListener("click", function () {
      window.print();
    });
  }
})();
