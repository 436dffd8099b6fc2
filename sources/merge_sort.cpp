#include <iostream>
#include <vector>

void mergeSort(std::vector<int>& v, std::size_t left, std::size_t right) {
    if (right - left < 2) {
        return;
    }
    std::size_t mid = left + (right - left) / 2;
    mergeSort(v, left, mid);
    mergeSort(v, mid, right);
    std::vector<int> merged;
    std::size_t i = left;
    std::size_t j = mid;
    while (i < mid && j < right) {
        if (v[i] <= v[j]) {
            merged.push_back(v[i++]);
        } else {
            merged.push_back(v[j++]);
        }
    }
    while (i < mid) {
        merged.push_back(v[i++]);
    }
    while (j < right) {
        merged.push_back(v[j++]);
    }
    for (std::size_t k = 0; k < merged.size(); ++k) {
        v[left + k] = merged[k];
    }
}

int main() {
    std::vector<int> data = {38, 27, 43, 3, 9, 82, 10};
    mergeSort(data, 0, data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
        std::cout << data[i] << (i + 1 < data.size() ? " " : "\n");
    }
    return 0;
}
