#include <iostream>

void bubbleSort(int arr[], int n) {
    for (int pass = 0; pass < n - 1; ++pass) {
        bool swapped = false;
        for (int j = 0; j < n - 1 - pass; ++j) {
            if (arr[j] > arr[j + 1]) {
                int temp = arr[j];
                arr[j] = arr[j + 1];
                arr[j + 1] = temp;
                swapped = true;
            }
        }
        if (!swapped) {
            break;
        }
    }
}

int main() {
    int data[] = {64, 34, 25, 12, 22, 11, 90};
    const int n = 7;
    bubbleSort(data, n);
    std::cout << "Sorted array:";
    for (int i = 0; i < n; ++i) {
        std::cout << " " << data[i];
    }
    std::cout << std::endl;
    return 0;
}
